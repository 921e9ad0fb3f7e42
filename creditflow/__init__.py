"""creditflow: the operator CLI, the producer client and the local supervisor."""
