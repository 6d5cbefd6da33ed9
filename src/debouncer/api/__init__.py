"""The HTTP routes post_message serves: the channels' webhooks and the admin API, over the use cases."""
