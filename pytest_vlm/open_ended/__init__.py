"""Open-ended answers (captions, visual questions) scored against reference texts."""
