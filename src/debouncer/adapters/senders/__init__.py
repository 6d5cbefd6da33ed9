"""Channel senders: one ChannelSender per channel API, sharing only the HTTP plumbing in `http`."""
