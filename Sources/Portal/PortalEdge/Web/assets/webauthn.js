// WebAuthn JSON <-> binary: the edge sends options with binary fields as base64url strings and
// expects the credential back the same way.

export function base64urlToBuffer(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

export function bufferToBase64url(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function descriptors(list) {
  return (list || []).map((item) => ({ ...item, id: base64urlToBuffer(item.id) }));
}

export function creationOptionsFromJSON(options) {
  return {
    ...options,
    challenge: base64urlToBuffer(options.challenge),
    user: { ...options.user, id: base64urlToBuffer(options.user.id) },
    excludeCredentials: descriptors(options.excludeCredentials),
  };
}

export function requestOptionsFromJSON(options) {
  const result = { ...options, challenge: base64urlToBuffer(options.challenge) };
  if (options.allowCredentials) result.allowCredentials = descriptors(options.allowCredentials);
  return result;
}

export function registrationToJSON(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: bufferToBase64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: bufferToBase64url(response.clientDataJSON),
      attestationObject: bufferToBase64url(response.attestationObject),
      transports: typeof response.getTransports === 'function' ? response.getTransports() : [],
    },
  };
}

export function assertionToJSON(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: bufferToBase64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: bufferToBase64url(response.clientDataJSON),
      authenticatorData: bufferToBase64url(response.authenticatorData),
      signature: bufferToBase64url(response.signature),
      userHandle: response.userHandle ? bufferToBase64url(response.userHandle) : null,
    },
  };
}

export function passkeysAvailable() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

// The server's begin endpoints answer {"publicKey": {...}}.
export async function createPasskey(begin) {
  const credential = await navigator.credentials.create({ publicKey: creationOptionsFromJSON(begin.publicKey) });
  return registrationToJSON(credential);
}

export async function getPasskey(begin) {
  const credential = await navigator.credentials.get({ publicKey: requestOptionsFromJSON(begin.publicKey) });
  return assertionToJSON(credential);
}

// One passkey ceremony against the edge: `${path}/begin` gives the options, `ceremony` (createPasskey or
// getPasskey) asks the authenticator, `${path}/finish` checks the answer. A ceremony the patient cancelled (or the
// browser refused) is the page's own error code.
export async function passkeyCeremony(post, path, ceremony) {
  const begin = await post(`${path}/begin`);
  let credential;
  try {
    credential = await ceremony(begin);
  } catch {
    throw { code: 'passkey.cancelled' };
  }
  return post(`${path}/finish`, credential);
}
