"""Fan memory for AI chat personalisation: the models (engagement, emotion, preferences, personality),
interaction events, the Fan Memory row update, its SQL and its cache. `user_memory_service` composes them."""
