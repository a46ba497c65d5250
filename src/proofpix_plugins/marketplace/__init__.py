"""The marketplace: publishing (submissions, signing, moderation, the publication log) and
discovery (search, listings, downloads, installs, reviews, analytics)."""
