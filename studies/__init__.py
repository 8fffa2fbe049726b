"""The shipped knowledge base of past studies (portable text files, never unpickled)."""
