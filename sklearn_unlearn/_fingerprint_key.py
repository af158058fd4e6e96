"""The secret that keys a model's row fingerprints, and where it may live."""

from __future__ import annotations

import os
import secrets
from hashlib import blake2b

__all__ = ["FingerprintKey", "KeyUnavailableError"]

_ID_LABEL = b"sklearn-unlearn fingerprint key id"


class KeyUnavailableError(ValueError):
    """The fingerprint key a request needs is held outside the model."""


def _as_secret(secret) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes | bytearray):
        raise TypeError(
            f"a fingerprint key is bytes or str, got {type(secret).__name__}."
        )
    if not 16 <= len(secret) <= 64:
        raise ValueError(
            f"a fingerprint key needs 16 to 64 bytes (BLAKE2b's key size), got "
            f"{len(secret)}."
        )
    return bytes(secret)


class FingerprintKey:
    """The secret that keys the row fingerprints of a model (keyed BLAKE2b).

    A fitted model recognises the rows it was trained on by fingerprints: to
    forget a row you show it again, and the model checks its fingerprint.
    Keyed fingerprints cannot be computed without the secret, so a ledger
    export (which never holds the key) neither confirms a guessed row nor
    lets anyone rebuild a forgotten row by enumerating a small domain.

    Where the secret lives decides who else can do that:

    * the default (``fingerprint_key=None`` on an estimator): a random key
      drawn at ``fit`` and kept in the model, so a pickle works on its own;
      whoever holds the pickle holds the key.
    * ``FingerprintKey(secret)`` or ``FingerprintKey(env="VAR")``: the user's
      key, kept *out of* pickles (``store=False``): a pickle holds only the
      key's id, and after loading one the key is given again with
      ``model.set_params(fingerprint_key=FingerprintKey(...))`` before the
      next request. Only a holder of the key can then test rows.

    Parameters
    ----------
    secret : bytes or str, default=None
        16 to 64 bytes (a str is UTF-8 encoded). Give ``secret`` or ``env``.
    env : str, default=None
        The name of an environment variable holding the secret, read each
        time the key is needed (worker processes inherit it).
    store : bool, default=False
        Whether pickles (and so copies sent to other processes) keep the
        secret. A key read from ``env`` is never stored.

    Attributes
    ----------
    key_id : str
        16 hexadecimal characters identifying the key (a keyed digest of a
        fixed label: it reveals nothing about the secret).

    Examples
    --------
    >>> import pickle
    >>> from sklearn_unlearn import FingerprintKey
    >>> key = FingerprintKey(b"0123456789abcdef0123456789abcdef")
    >>> len(key.key_id), key.secret() == b"0123456789abcdef0123456789abcdef"
    (16, True)
    >>> copy = pickle.loads(pickle.dumps(key))
    >>> copy.key_id == key.key_id, copy.available
    (True, False)
    """

    def __init__(self, secret=None, *, env: str | None = None, store: bool = False):
        if (secret is None) == (env is None):
            raise ValueError("give a FingerprintKey either a secret or env.")
        self.env = env
        self.store = bool(store) and env is None
        self._secret = None if secret is None else _as_secret(secret)
        self.key_id = _key_id(self.secret())

    @classmethod
    def generate(cls, store: bool = True) -> FingerprintKey:
        """A fresh random 32-byte key (kept in pickles by default).

        Returns
        -------
        FingerprintKey
        """
        return cls(secrets.token_bytes(32), store=store)

    @property
    def available(self) -> bool:
        """Whether the secret can be read here (given, stored or in ``env``)."""
        try:
            self.secret()
        except KeyUnavailableError:
            return False
        return True

    def secret(self) -> bytes:
        """The secret bytes.

        Raises
        ------
        KeyUnavailableError
            When the key was held outside a pickle, or ``env`` is not set.
        """
        if self._secret is not None:
            return self._secret
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise KeyUnavailableError(
                    f"the fingerprint key is read from the environment variable "
                    f"{self.env}, which is not set in this process."
                )
            secret = _as_secret(value)
            known = getattr(self, "key_id", None)
            if known is not None and _key_id(secret) != known:
                raise KeyUnavailableError(
                    f"the environment variable {self.env} holds another key than "
                    f"the one this model was fitted with (id {known})."
                )
            return secret
        raise KeyUnavailableError(
            f"this model's fingerprint key (id {self.key_id}) is held outside "
            "the model and was not given again since it was loaded: call "
            "model.set_params(fingerprint_key=FingerprintKey(secret)) with the "
            "same secret."
        )

    def __getstate__(self):
        state = {"env": self.env, "store": self.store, "key_id": self.key_id}
        state["_secret"] = self._secret if self.store else None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __deepcopy__(self, memo):
        return self  # immutable; clone() keeps the same key

    def __eq__(self, other):
        return isinstance(other, FingerprintKey) and other.key_id == self.key_id

    def __hash__(self):
        return hash(self.key_id)

    def __repr__(self):
        where = f"env={self.env!r}" if self.env else f"store={self.store}"
        return f"FingerprintKey(id={self.key_id}, {where})"


def _key_id(secret: bytes) -> str:
    return blake2b(_ID_LABEL, key=secret, digest_size=8).hexdigest()


def resolve_key(given, fitted) -> bytes:
    """The secret for a request: the estimator's parameter, else the fitted key.

    Parameters
    ----------
    given : FingerprintKey or None
        The estimator's ``fingerprint_key`` parameter now.
    fitted : FingerprintKey
        The key the model was fitted with.

    Raises
    ------
    ValueError
        When ``given`` is another key than the fitted one.
    KeyUnavailableError
        When neither holds the secret here.
    """
    if given is not None and given is not fitted:
        if not isinstance(given, FingerprintKey):
            raise TypeError(
                "fingerprint_key must be a FingerprintKey or None, got "
                f"{type(given).__name__}."
            )
        if given.key_id != fitted.key_id:
            raise ValueError(
                f"fingerprint_key (id {given.key_id}) is not the key this model "
                f"was fitted with (id {fitted.key_id}); its fingerprints cannot "
                "be checked with another key."
            )
        if given.available:
            return given.secret()
    return fitted.secret()
