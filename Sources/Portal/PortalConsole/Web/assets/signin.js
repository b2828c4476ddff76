// Sign-in: username and password, then the passkey (or the authenticator app's code). Goes to `next` (a console
// page) or the overview.
import { api, showError } from './console.js';
import { getPasskey, passkeysAvailable } from './webauthn.js';

const message = document.getElementById('message');
const passwordStep = document.getElementById('password-step');
const factorStep = document.getElementById('factor-step');
const totpForm = document.getElementById('totp-form');

function destination() {
  const next = new URLSearchParams(window.location.search).get('next') || '';
  // Only a page of this console: never another site.
  return /^[a-z-]+\.html(\?[\w=&%.-]*)?$/.test(next) ? next : 'home.html';
}

function showFactors(methods) {
  passwordStep.classList.add('hidden');
  factorStep.classList.remove('hidden');
  totpForm.classList.toggle('hidden', !methods.includes('totp'));
  document.getElementById('passkey-button').focus();
}

function done(session) {
  if (session && session.state === 'signed-in') window.location.assign(destination());
}

document.getElementById('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  message.replaceChildren();
  try {
    const session = await api('POST', '/api/signin', {
      username: document.getElementById('username').value.trim(),
      password: document.getElementById('password').value,
    });
    document.getElementById('password').value = '';
    showFactors(session.methods || []);
  } catch (error) {
    showError(message, error);
  }
});

document.getElementById('passkey-button').addEventListener('click', async () => {
  message.replaceChildren();
  if (!passkeysAvailable()) {
    showError(message, { message: 'This browser cannot use passkeys. Use your authenticator app, or another browser.' });
    return;
  }
  try {
    const options = await api('POST', '/api/signin/passkey/options');
    let credential;
    try {
      credential = await getPasskey(options);
    } catch {
      throw { message: 'The passkey was not used (cancelled or refused by the browser). Try again.' };
    }
    done(await api('POST', '/api/signin/passkey', credential));
  } catch (error) {
    showError(message, error);
  }
});

totpForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  message.replaceChildren();
  try {
    done(await api('POST', '/api/signin/totp', { code: document.getElementById('code').value }));
  } catch (error) {
    document.getElementById('code').value = '';
    showError(message, error);
  }
});

(async () => {
  try {
    const session = await api('GET', '/api/session');
    if (session.state === 'signed-in') done(session);
    else if (session.state === 'password') showFactors(session.methods || []);
    else document.getElementById('username').focus();
  } catch (error) {
    showError(message, error);
  }
})();
