"""The wallet's invariants, checked from stored state (used by `creditflow reconcile` and the tests)."""

from .model import OVERDRAFT, Wallet


def problems(wallet: Wallet, sum_of_entries: int, entry_count: int) -> list[str]:
    """Everything wrong with one tenant's wallet; empty when it reconciles."""
    found: list[str] = []
    in_buckets = sum(b.remaining for b in wallet.buckets)
    if wallet.balance != sum_of_entries:
        found.append(f"balance {wallet.balance} != sum of ledger entries {sum_of_entries}")
    if wallet.balance != in_buckets:
        found.append(f"balance {wallet.balance} != sum of buckets {in_buckets}")
    if wallet.entry_count != entry_count:
        found.append(f"wallet counts {wallet.entry_count} entries, the ledger holds {entry_count}")
    if wallet.balance < wallet.policy.floor:
        found.append(f"balance {wallet.balance} is below the policy floor {wallet.policy.floor}")
    negative = [b.bucket_id for b in wallet.buckets if b.remaining < 0 and b.bucket_id != OVERDRAFT]
    if negative:
        found.append(f"buckets below zero: {', '.join(negative)}")
    debt = wallet.bucket(OVERDRAFT)
    if debt is not None and debt.remaining < 0 and any(b.remaining > 0 for b in wallet.buckets):
        found.append("credits held while in debt: they should have repaid it")
    return found
