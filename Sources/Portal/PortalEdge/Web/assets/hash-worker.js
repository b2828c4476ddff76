// SHA-256 of upload chunks off the page's thread. The chunk's buffer travels here and back
// (transferred, not copied).
self.addEventListener('message', async (event) => {
  const { id, buffer } = event.data;
  try {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
    let binary = '';
    for (const byte of digest) binary += String.fromCharCode(byte);
    self.postMessage({ id, buffer, checksum: btoa(binary) }, [buffer]);
  } catch (error) {
    self.postMessage({ id, buffer, error: String(error) }, [buffer]);
  }
});
