"""Session results -> what people read: summary rows, terminal, Markdown, HTML, JSON, progress."""
