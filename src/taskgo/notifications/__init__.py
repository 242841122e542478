"""In-app notifications, device tokens and push delivery (FCM HTTP v1 or the log)."""
