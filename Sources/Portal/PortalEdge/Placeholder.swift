// PortalEdge: placeholder until its first file lands.
