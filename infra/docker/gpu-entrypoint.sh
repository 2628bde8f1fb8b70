#!/usr/bin/env bash
# GPU worker start: use the mounted bundle at $CGM_MODEL_DIR, or sync it once from
# $CGM_MODEL_S3_URI (s3://bucket/prefix/) when the manifest is absent, then exec the compiled cgm.
set -euo pipefail
if [[ ! -f "${CGM_MODEL_DIR}/cgm-model.json" ]]; then
  if [[ -n "${CGM_MODEL_S3_URI:-}" ]]; then
    node /app/infra/docker/fetch-models.mjs "${CGM_MODEL_S3_URI}" "${CGM_MODEL_DIR}"
  else
    echo "no model bundle: mount one at ${CGM_MODEL_DIR} (cgm-model.json inside) or set CGM_MODEL_S3_URI=s3://bucket/prefix/" >&2
    exit 64
  fi
fi
exec node /app/cli/main.js "$@"
