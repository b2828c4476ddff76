// Sign-in: e-mail and password, then the second factor the account has.
import { t } from './i18n.js';
import { post, isSignedOut } from './api.js';
import { boot, showStep, showError, clearError, setBusy, go, $ } from './ui.js';
import { getPasskey, passkeyCeremony, passkeysAvailable } from './webauthn.js';

function showFactor(methods) {
  const available = methods && methods.length ? methods : ['totp', 'passkey', 'recovery'];
  $('#totp-form').hidden = !available.includes('totp');
  $('#passkey-choice').hidden = !(available.includes('passkey') && passkeysAvailable());
  $('#recovery-choice').hidden = !available.includes('recovery');
  showStep('step-factor');
}

function signedIn(body) {
  if (body && Number.isInteger(body.recoveryCodesLeft)) {
    $('#codes-left-text').textContent = t(body.recoveryCodesLeft === 1 ? 'signin.codesLeft.text.one' : 'signin.codesLeft.text.other', { count: body.recoveryCodesLeft });
    showStep('step-codes-left');
    return;
  }
  go('/home.html');
}

async function attempt(button, region, action) {
  clearError(region);
  setBusy(button, true);
  try {
    await action();
  } catch (error) {
    if (isSignedOut(error)) {
      showStep('step-password');
      showError($('#password-error'), error);
    } else {
      showError(region, error);
    }
  } finally {
    setBusy(button, false);
  }
}

async function main() {
  const session = await boot();
  if (session.state === 'signed-in') return go('/home.html');
  if (session.state === 'enrolling') return go('/enrol.html');
  if (session.state === 'second-factor') showFactor(session.methods);
  else showStep('step-password');

  $('#password-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const region = $('#password-error');
    const email = $('#email').value.trim();
    const password = $('#password').value;
    if (!email || !password) {
      showError(region, t('signin.missing'));
      (email ? $('#password') : $('#email')).focus();
      return;
    }
    attempt($('#password-submit'), region, async () => {
      const body = await post('/api/signin/password', { email, password });
      $('#password').value = '';
      showFactor(body.methods);
    });
  });

  $('#totp-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const region = $('#factor-error');
    const code = $('#totp-code').value.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(code)) {
      showError(region, t('signin.totp.invalid'));
      $('#totp-code').setAttribute('aria-invalid', 'true');
      $('#totp-code').focus();
      return;
    }
    $('#totp-code').removeAttribute('aria-invalid');
    attempt($('#totp-submit'), region, async () => {
      signedIn(await post('/api/signin/totp', { code }));
    });
  });

  $('#passkey-button').addEventListener('click', () => {
    attempt($('#passkey-button'), $('#factor-error'), async () => {
      signedIn(await passkeyCeremony(post, '/api/signin/passkey', getPasskey));
    });
  });

  $('#recovery-show').addEventListener('click', () => {
    const form = $('#recovery-form');
    form.hidden = !form.hidden;
    $('#recovery-show').setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) $('#recovery-code').focus();
  });

  $('#recovery-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const region = $('#factor-error');
    const code = $('#recovery-code').value.trim();
    if (!code) {
      showError(region, t('signin.recovery.missing'));
      $('#recovery-code').focus();
      return;
    }
    attempt($('#recovery-submit'), region, async () => {
      signedIn(await post('/api/signin/recovery', { code }));
    });
  });
}

main();
