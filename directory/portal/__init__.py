"""The self-service portal: end users sign in, see their account, and set, change or
reset their password. Every view reads only the signed-in user's own data."""
