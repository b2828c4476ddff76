// Mail: placeholder until its first file lands.
