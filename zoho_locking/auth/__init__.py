"""Access tokens: providers (`provider`), minting at the accounts server (`oauth`), stores."""
