"""Pipeline bookkeeping in the warehouse's ops schema: batches, quarantine, events."""
