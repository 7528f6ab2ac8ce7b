"""Self-supervised pre-training (paper 001): Models Genesis transformations, the reconstruction loop, and
checkpoints that warm-start the segmentation U-Net (`model.weights: <checkpoint>`)."""
