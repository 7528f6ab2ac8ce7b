"""Self-supervised pre-training: Models Genesis transformations, the reconstruction loop, and checkpoints
that warm-start the segmentation U-Net (`model.weights: <checkpoint>`), as in Zhao et al. 2022,
"Self-supervised Assisted Active Learning for Skin Lesion Segmentation"."""
