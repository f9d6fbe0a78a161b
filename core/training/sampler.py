"""Batches of images with similar aspect ratio (less padding per batch), over any index sampler:
a RandomSampler on one process, a DistributedSampler (one shard per rank) under torchrun."""
from __future__ import annotations

from typing import Iterator, Sequence

from torch.utils.data import BatchSampler, Sampler


def aspect_groups(sizes: Sequence[tuple[int, int]]) -> list[int]:
    """0 for portrait images (taller than wide), 1 for landscape and square ones."""
    return [0 if h > w else 1 for h, w in sizes]


class GroupedBatchSampler(BatchSampler):
    """Yields batches whose images share a group, in the order the sampler draws them; what is
    left in the groups at the end is yielded as (possibly mixed) final batches, so every drawn
    index is used exactly once per epoch."""

    def __init__(self, sampler: Sampler, group_ids: Sequence[int], batch_size: int):
        self.sampler = sampler
        self.group_ids = list(group_ids)
        self.batch_size = int(batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        buckets: dict[int, list[int]] = {}
        for idx in self.sampler:
            bucket = buckets.setdefault(self.group_ids[idx], [])
            bucket.append(idx)
            if len(bucket) == self.batch_size:
                yield bucket[:]
                bucket.clear()
        rest = [i for b in buckets.values() for i in b]
        for k in range(0, len(rest), self.batch_size):
            yield rest[k:k + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
