// CLIP BPE tokenisation for SDXL's two text encoders, from the bundle's tokenizer.json files, padded
// and truncated to 77 positions ourselves (@huggingface/tokenizers has no padding options).
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';

export const CLIP_LENGTH = 77;

export interface TokenizedPrompt {
  /** 77 ids: BOS, up to 75 word tokens, EOS, then padding. */
  ids: Int32Array;
  /** Word tokens kept (without BOS/EOS), i.e. the "intended" LEDITS++ span length (docs/algorithm.md §2.5, Q5). */
  wordTokens: number;
}

export class ClipTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
  ) {}

  /**
   * `padId`: TE1 pads with <|endoftext|> (49407), TE2 with "!" (0) in SDXL; the bundle manifest says
   * which. When absent, the tokenizer.json `padding.pad_id`, else EOS, is used.
   */
  static async load(path: string, padId?: number): Promise<ClipTokenizer> {
    const json = JSON.parse(await readFile(path, 'utf8')) as TokenizerJson;
    const tokenizer = new Tokenizer(json, {});
    const bos = tokenizer.token_to_id('<|startoftext|>');
    const eos = tokenizer.token_to_id('<|endoftext|>');
    if (bos === undefined || eos === undefined) {
      throw new Error(`${path} is not a CLIP tokenizer: <|startoftext|>/<|endoftext|> are missing`);
    }
    return new ClipTokenizer(tokenizer, bos, eos, padId ?? json.padding?.pad_id ?? eos);
  }

  /** Word-token ids of `text` without BOS/EOS (CLIP lower-cases and cleans whitespace itself). */
  wordIds(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids.map(Number);
  }

  encode(text: string): TokenizedPrompt {
    const words = this.wordIds(text).slice(0, CLIP_LENGTH - 2);
    const ids = new Int32Array(CLIP_LENGTH).fill(this.padId);
    ids[0] = this.bosId;
    ids.set(words, 1);
    ids[words.length + 1] = this.eosId;
    return { ids, wordTokens: words.length };
  }
}

interface TokenizerJson {
  padding?: { pad_id?: number } | null;
}
