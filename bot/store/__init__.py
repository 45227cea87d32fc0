"""The bot's database: engines and migrations, and the inbox of deliveries and the work they cause."""
