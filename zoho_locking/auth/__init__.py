"""Access tokens: providers (`provider`), the refresh-token settings (`config`), the accounts
server's token endpoint (`accounts`), one mint among processes (`coordination`), stores
(`stores`, `redisstore`, `seal`), Zoho's token limits (`limits`), a grant code's exchange
(`grant`), and the checks they share (`checks`)."""
