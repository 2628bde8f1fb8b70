"""FM-CGM model export: SDXL (and a tiny same-architecture stand-in) to ONNX bundles, LPIPS-VGG, reference traces."""
