//! What every command that runs the app shares: its environment, a passwd
//! entry for an arbitrary UID, and PID-1 duties (signal forwarding, reaping).
