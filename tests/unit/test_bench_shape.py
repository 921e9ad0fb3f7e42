"""The raw step of `make bench` writes in the shape the wallet's batches have when it reads a backlog."""

from aiokafka.partitioner import DefaultPartitioner

from proof.bench import backlog_batches

NAMES = [f"bench-{i:03d}" for i in range(50)]


def test_every_debit_is_in_one_batch_once_and_no_batch_is_larger_than_asked() -> None:
    batches = backlog_batches(NAMES, 10_000, 500)

    assert sorted(i for batch in batches for i in batch) == list(range(10_000))
    assert max(len(batch) for batch in batches) == 500


def test_a_batch_holds_the_tenants_of_one_partition_only_as_a_consumer_of_a_backlog_sees_them() -> None:
    every = list(range(6))
    partition_of = DefaultPartitioner()

    for batch in backlog_batches(NAMES, 10_000, 500):
        partitions = {partition_of(NAMES[i % 50].encode(), every, every) for i in batch}
        assert len(partitions) == 1
        assert batch == sorted(batch), "in the order they were produced"
