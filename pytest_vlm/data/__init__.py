"""Where images and labels come from: folders, manifests, generated sets."""
