"""Where results are written: terminal tables, JUnit properties, JSON, Markdown, HTML."""
