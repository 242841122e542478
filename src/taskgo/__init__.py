"""TaskGo marketplace backend."""
