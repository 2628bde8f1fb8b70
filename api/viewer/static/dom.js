// @ts-check
// Element builders that only ever set text and attributes: nothing from the API becomes markup.

/**
 * @typedef {{ class?: string, text?: string | number | null, attrs?: Record<string, string | number | boolean | null | undefined> }} Props
 */

/** @param {Element} node @param {Props} props */
function apply(node, props) {
  if (props.class) node.setAttribute('class', props.class);
  if (props.text !== undefined && props.text !== null) node.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    // Event handler attributes would be script; the CSP blocks them anyway, this keeps them out of the DOM.
    if (/^on/i.test(name)) throw new Error(`refusing to set event handler attribute '${name}'`);
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {(Node | string)[]} [children] strings become text nodes
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  apply(node, props);
  node.append(...children);
  return node;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Props} [props]
 * @param {(Node | string)[]} [children]
 * @returns {SVGElement}
 */
export function svgEl(tag, props = {}, children = []) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  apply(node, props);
  node.append(...children);
  return node;
}

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} [type]
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  if (type && !(node instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return /** @type {T} */ (node);
}

/** @param {string} id @param {string} text @param {'info' | 'error'} [kind] */
export function say(id, text, kind = 'info') {
  const node = byId(id);
  node.textContent = text;
  node.dataset.kind = kind;
}
