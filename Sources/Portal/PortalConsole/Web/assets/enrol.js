// Enrolment from the link an administrator gave: the token in the fragment (never sent to a server log), then a
// password, a passkey (required) and optionally an authenticator app; finishing signs in.
import { api, showError } from './console.js';
import { createPasskey, passkeysAvailable } from './webauthn.js';
import { qrSvg } from './qr.js';

const message = document.getElementById('message');
const show = (id, visible = true) => document.getElementById(id).classList.toggle('hidden', !visible);

function draw(enrolment) {
  document.getElementById('welcome').textContent = `${enrolment.displayName} (${enrolment.username})`;
  show('password-step', !enrolment.password);
  show('passkey-step', enrolment.password);
  show('totp-step', enrolment.password && enrolment.passkeys > 0);
  show('finish-step', enrolment.password && enrolment.passkeys > 0);
  document.getElementById('passkey-state').textContent = enrolment.passkeys > 0
    ? `${enrolment.passkeys} passkey(s) registered. You may add another.` : '';
  document.getElementById('totp-state').textContent = enrolment.totp ? 'Your authenticator app is set up.' : '';
  document.getElementById('totp-button').classList.toggle('hidden', enrolment.totp);
}

async function step(promise) {
  message.replaceChildren();
  try {
    const session = await promise;
    if (session && session.enrolment) draw(session.enrolment);
    return session;
  } catch (error) {
    showError(message, error);
    return null;
  }
}

document.getElementById('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const password = document.getElementById('password');
  const confirmation = document.getElementById('confirmation');
  const session = await step(api('POST', '/api/enrol/password', { password: password.value, confirmation: confirmation.value }));
  if (session) {
    password.value = '';
    confirmation.value = '';
    document.getElementById('passkey-button').focus();
  }
});

document.getElementById('passkey-button').addEventListener('click', async () => {
  if (!passkeysAvailable()) {
    showError(message, { message: 'This browser cannot register passkeys. Open the link in a current browser.' });
    return;
  }
  await step((async () => {
    const options = await api('POST', '/api/enrol/passkey/options');
    let credential;
    try {
      credential = await createPasskey(options);
    } catch {
      throw { message: 'No passkey was registered (cancelled or refused by the browser). Try again.' };
    }
    return api('POST', '/api/enrol/passkey', credential);
  })());
});

document.getElementById('totp-button').addEventListener('click', async () => {
  message.replaceChildren();
  try {
    const setup = await api('POST', '/api/enrol/totp/options');
    document.getElementById('qr').replaceChildren(qrSvg(setup.uri, 'QR code for your authenticator app'));
    document.getElementById('totp-secret').textContent = setup.secret;
    show('totp-setup');
    document.getElementById('code').focus();
  } catch (error) {
    showError(message, error);
  }
});

document.getElementById('totp-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const code = document.getElementById('code');
  const session = await step(api('POST', '/api/enrol/totp', { code: code.value }));
  code.value = '';
  if (session) show('totp-setup', false);
});

document.getElementById('finish-button').addEventListener('click', async () => {
  const session = await step(api('POST', '/api/enrol/finish'));
  if (session && session.state === 'signed-in') window.location.assign('home.html');
});

(async () => {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
  // The token has done its work once the session holds the enrolment: keep it out of history and bookmarks.
  if (token) window.history.replaceState(null, '', 'enrol.html');
  try {
    let session = await api('GET', '/api/session');
    if (token) session = await api('POST', '/api/enrol/start', { token });
    if (session.state === 'enrolling' && session.enrolment) draw(session.enrolment);
    else if (session.state === 'signed-in') window.location.assign('home.html');
    else showError(message, { message: 'Open the enrolment link an administrator gave you.' });
  } catch (error) {
    showError(message, error);
  }
})();
