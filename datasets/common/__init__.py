"""What the dataset plugins share: on-disk checks, image/tensor sample access, transforms, downloaded split lists."""
