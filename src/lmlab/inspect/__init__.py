"""Looking inside trained models: attention patterns and hidden states of one input."""
