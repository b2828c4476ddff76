// WebAuthn: placeholder until its first file lands.
