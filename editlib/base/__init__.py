"""The shared base every layer may import, and which imports none of them: errors, input
checks, where things live on disk, cache entries, seeding, numerical precision."""
