"""sftbench data side: tasks that turn raw rows into Alpaca records, and their fixed splits."""
