"""What every pretrained backbone shares: the timm base class, official checkpoint formats, weight resolution."""
