"""The agent: one turn's loop, the worker that runs chats, context building and compaction."""
