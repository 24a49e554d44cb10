"""OpenRouter rankings: client, author→country map, share maths, change detection."""
