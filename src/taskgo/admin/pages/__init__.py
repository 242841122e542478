"""Server-rendered admin console pages (HTML, pt-BR by default, English by Accept-Language)."""
