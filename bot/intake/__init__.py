"""From GitHub to the bot: the webhook endpoint, the worker that takes deliveries in order, the routes."""
