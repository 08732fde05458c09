"""Online action detection: TRN, OadTR and a per-frame MLP baseline; streaming state per track; training,
evaluation (per-frame mAP, mcAP) and ONNX export."""
