// Payouts for staff: the multisig wallet's balance, payout requests to approve or reject, the PSBTs the co-signers
// sign (downloaded as .psbt files, uploaded back signed) and the button that sends one; and the small form a member
// asks to be reimbursed with.
import {
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser';
import { useState } from 'preact/hooks';
import { parseAmountToCents } from '../../core/money.js';
import { api, ApiError, query } from './api.js';
import { dateTime, money, sats } from './format.js';
import { usePages, useResource, type Resource } from './hooks.js';
import { useRefreshOn } from './live.js';
import type { ApproverKey, Payout, PayoutState, PayoutWallet, Psbt } from './types.js';
import { ErrorBox, Loading, MoreButton, Section } from './widgets.js';

const PAGE = 50;
const PSBT_MAGIC = [0x70, 0x73, 0x62, 0x74, 0xff];

const stateTone: Record<PayoutState, string> = {
  requested: 'warn',
  approved: '',
  rejected: 'bad',
  expired: 'bad',
  signing: '',
  signed: '',
  broadcast: 'ok',
  confirmed: 'ok',
};

/** An action's progress and failure; `run` reloads what the view shows once the action succeeded. */
function useAction(after: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await action();
      after();
      return true;
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, 'UI_ERROR', String(failure)));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

function amountText(payout: Payout): string {
  return payout.cents !== null && payout.currency
    ? `${money(payout.cents, payout.currency)} (${sats(payout.sats)})`
    : sats(payout.sats);
}

/** A file a co-signer's wallet saved: binary (it starts with "psbt" 0xff) as base64, or already base64 text. */
async function psbtFileAsBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (!PSBT_MAGIC.every((byte, index) => bytes[index] === byte)) return new TextDecoder().decode(bytes).trim();
  let binary = '';
  for (let start = 0; start < bytes.length; start += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
  return btoa(binary);
}

export function Payouts(props: { name: string }) {
  const wallet = useResource<PayoutWallet>('/payout-wallet');
  const psbts = useResource<{ psbts: Psbt[] }>('/psbts');
  const list = usePages<{ payouts: Payout[]; next: string | null }, Payout>(
    (cursor) => `/payouts${query({ before: cursor, limit: PAGE })}`,
    (reply) => ({ items: reply.payouts, next: reply.next }),
    'payouts',
  );
  const reload = () => {
    wallet.reload();
    psbts.reload();
    list.reload();
  };
  useRefreshOn(['payout-mgr.changed', 'payout-mgr.key.changed'], reload);
  const action = useAction(reload);
  const open = (psbts.data?.psbts ?? []).filter((psbt) => psbt.state !== 'discarded' && psbt.state !== 'confirmed');
  const anyApproved = list.items.some((payout) => payout.state === 'approved');

  return (
    <div class="payouts">
      <WalletView wallet={wallet} />
      <ApproverKeysView me={props.name} />
      {action.error && <ErrorBox error={action.error} />}
      {psbts.error && <ErrorBox error={psbts.error} />}
      {open.map((psbt) => (
        <PsbtView key={psbt.id} psbt={psbt} onChange={reload} />
      ))}
      <Section
        title="Payouts"
        actions={
          anyApproved && (
            <button
              type="button"
              disabled={action.busy}
              onClick={() => void action.run(() => api('/psbts', { method: 'POST', body: {} }))}
            >
              Build PSBT
            </button>
          )
        }
      >
        {list.error && <ErrorBox error={list.error} />}
        {list.loading && list.items.length === 0 && <Loading />}
        {!list.loading && list.items.length === 0 && !list.error && <p class="muted">No payouts asked for yet.</p>}
        <ul class="payout-list">
          {list.items.map((payout) => (
            <PayoutItem key={payout.id} payout={payout} me={props.name} action={action} />
          ))}
        </ul>
        <MoreButton more={list.more} loading={list.loading} onClick={list.loadMore} />
      </Section>
    </div>
  );
}

interface Challenge {
  signedAt: number;
  options: PublicKeyCredentialRequestOptionsJSON;
}

/** The approvers' keys: add a passkey of one's own, endorse another's pending key with one's own. */
function ApproverKeysView(props: { me: string }) {
  const keys = useResource<{ keys: ApproverKey[]; approvalsRequired: number; bootstrap: boolean }>('/approver-keys');
  const action = useAction(keys.reload);
  const addPasskey = () =>
    action.run(async () => {
      const { nonce, options } = await api<{ nonce: string; options: PublicKeyCredentialCreationOptionsJSON }>(
        '/approver-keys/passkey/challenge',
        { method: 'POST' },
      );
      const registration = await startRegistration({ optionsJSON: options });
      return api('/approver-keys/passkey', { method: 'POST', body: { nonce, registration } });
    });
  const endorse = (keyId: string) =>
    action.run(async () => {
      const { signedAt, options } = await api<Challenge>('/approver-keys/endorse/challenge', {
        method: 'POST',
        body: { keyId },
      });
      const assertion = await startAuthentication({ optionsJSON: options });
      return api('/approver-keys/endorse', { method: 'POST', body: { keyId, proof: { kind: 'passkey', signedAt, assertion } } });
    });
  const list = keys.data?.keys ?? [];
  return (
    <Section
      title="Approval keys"
      class="approver-keys"
      actions={
        <button type="button" disabled={action.busy} onClick={() => void addPasskey()}>
          Add a passkey
        </button>
      }
    >
      {keys.error && <ErrorBox error={keys.error} />}
      {action.error && <ErrorBox error={action.error} />}
      {keys.data?.bootstrap && (
        <p class="muted small">
          Fewer than {keys.data.approvalsRequired} approvers have a key: a key added now counts at once. Check that every key
          listed is one its approver holds.
        </p>
      )}
      <ul class="approver-key-list">
        {list.map((key) => (
          <li key={key.keyId} data-testid="approver-key" data-state={key.state}>
            <strong>{key.approver}</strong> {key.kind === 'passkey' ? 'passkey' : 'key file'}{' '}
            <code class="small">{key.keyId.length > 32 ? `${key.keyId.slice(0, 32)}…` : key.keyId}</code>{' '}
            <span
              class={`badge ${key.state === 'active' ? 'ok' : key.state === 'pending' ? 'warn' : 'bad'}`}
              data-testid="approver-key-state"
            >
              {key.state}
            </span>
            {key.endorsements.length > 0 && (
              <span class="muted small"> endorsed by {key.endorsements.map((e) => e.approver).join(', ')}</span>
            )}
            {key.state === 'pending' && !key.endorsements.some((e) => e.approver === props.me) && (
              <button type="button" class="secondary" disabled={action.busy} onClick={() => void endorse(key.keyId)}>
                Endorse
              </button>
            )}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function WalletView(props: { wallet: Resource<PayoutWallet> }) {
  const { data, error } = props.wallet;
  const [address, setAddress] = useState<string | null>(null);
  const fresh = useAction(() => undefined);
  const receive = () =>
    fresh.run(async () => setAddress((await api<PayoutWallet>('/payout-wallet/address', { method: 'POST' })).receiveAddress));
  return (
    <Section
      title="Payout wallet"
      class="payout-wallet"
      actions={
        <button type="button" disabled={fresh.busy} onClick={() => void receive()}>
          Receive address
        </button>
      }
    >
      {error && <ErrorBox error={error} />}
      {!data && !error && <Loading />}
      {data && (
        <>
          <p class="balance" data-testid="payout-balance">
            {sats(data.confirmedSats)}
            {data.unconfirmedSats !== 0 && <span class="muted small"> + {sats(data.unconfirmedSats)} unconfirmed</span>}
          </p>
          <p class="muted small">
            {data.threshold}-of-{data.cosigners.length} multisig, {data.coins} coin{data.coins === 1 ? '' : 's'}
            {data.reservedSats > 0 && `, ${sats(data.reservedSats)} held by open PSBTs`}
            {data.processedHeight !== null && `, followed to block ${data.processedHeight}`}
          </p>
        </>
      )}
      {fresh.error && <ErrorBox error={fresh.error} />}
      {address && (
        <p class="address">
          Fund the wallet at <code>{address}</code>
        </p>
      )}
    </Section>
  );
}

function PayoutItem(props: { payout: Payout; me: string; action: ReturnType<typeof useAction> }) {
  const { payout, action } = props;
  const [rejecting, setRejecting] = useState(false);
  const decide = (decision: 'approve' | 'reject', reason?: string) =>
    action.run(async () => {
      const path = `/payouts/${encodeURIComponent(payout.id)}/${decision}`;
      const said = reason ? { reason } : {};
      // The challenge binds this payout's id, amount, address and request digest: the passkey signs exactly that.
      const { signedAt, options } = await api<Challenge>(`${path}/challenge`, { method: 'POST', body: said });
      const assertion = await startAuthentication({ optionsJSON: options });
      return api(path, { method: 'POST', body: { ...said, proof: { kind: 'passkey', signedAt, assertion } } });
    });
  const approvedByMe = payout.approvals.some((approval) => approval.approver === props.me);
  return (
    <li data-testid="payout" data-state={payout.state}>
      <p class="payout-head">
        <strong>{amountText(payout)}</strong>{' '}
        <span class={`badge ${stateTone[payout.state]}`} data-testid="payout-state">
          {payout.state}
        </span>
      </p>
      <p>{payout.reason}</p>
      <p class="muted small">
        Asked by {payout.requester} {dateTime(payout.requestedAt)} to <code>{payout.address}</code>
      </p>
      <p class="small" data-testid="approvals">
        {payout.approvals.length} of {payout.approvalsRequired} approvals
        {payout.approvals.length > 0 && ` (${payout.approvals.map((approval) => approval.approver).join(', ')})`}
      </p>
      {payout.rejection && (
        <p class="small">
          Rejected by {payout.rejection.approver}: {payout.rejection.reason}
        </p>
      )}
      {payout.txid && (
        <p class="muted small">
          Transaction <code>{payout.txid}</code>, {payout.confirmations} confirmation{payout.confirmations === 1 ? '' : 's'}
        </p>
      )}
      {payout.lastError && <p class="error small">{payout.lastError.message}</p>}
      {payout.state === 'requested' && !rejecting && (
        <p class="actions">
          <button type="button" disabled={action.busy || approvedByMe} onClick={() => void decide('approve')}>
            {approvedByMe ? 'You approved' : 'Approve'}
          </button>
          <button type="button" class="secondary" disabled={action.busy} onClick={() => setRejecting(true)}>
            Reject
          </button>
        </p>
      )}
      {rejecting && (
        <ReasonForm
          label="Why is it rejected?"
          submit="Reject"
          busy={action.busy}
          onCancel={() => setRejecting(false)}
          onSubmit={async (reason) => {
            if (await decide('reject', reason)) setRejecting(false);
          }}
        />
      )}
    </li>
  );
}

function ReasonForm(props: {
  label: string;
  submit: string;
  busy: boolean;
  onSubmit: (reason: string) => Promise<void>;
  onCancel: () => void;
}) {
  const [reason, setReason] = useState('');
  return (
    <form
      class="reason-form"
      onSubmit={(event) => {
        event.preventDefault();
        void props.onSubmit(reason.trim());
      }}
    >
      <label>
        {props.label}
        <input name="reason" required maxLength={500} value={reason} onInput={(event) => setReason(event.currentTarget.value)} />
      </label>
      <p class="actions">
        <button type="submit" disabled={props.busy || reason.trim() === ''}>
          {props.submit}
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
      </p>
    </form>
  );
}

function PsbtView(props: { psbt: Psbt; onChange: () => void }) {
  const { psbt } = props;
  const action = useAction(props.onChange);
  const [taken, setTaken] = useState<string | null>(null);
  const [discarding, setDiscarding] = useState(false);
  const path = `/psbts/${encodeURIComponent(psbt.id)}`;
  const paid = psbt.outputs.filter((output) => !output.change).reduce((sum, output) => sum + output.sats, 0);

  const upload = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (!file) return;
    setTaken(null);
    await action.run(async () => {
      const reply = await api<{ added: { fingerprint: string }[]; alreadyHad: number }>(`${path}/signatures`, {
        method: 'POST',
        body: { psbt: await psbtFileAsBase64(file) },
      });
      const signers = [...new Set(reply.added.map((signature) => signature.fingerprint))];
      setTaken(
        signers.length > 0
          ? `Took ${reply.added.length} signature${reply.added.length === 1 ? '' : 's'} from ${signers.join(', ')}.`
          : 'This file had no new signatures.',
      );
    });
    input.value = '';
  };

  return (
    <Section
      title={`PSBT for ${psbt.payoutIds.length} payout${psbt.payoutIds.length === 1 ? '' : 's'}`}
      class="psbt"
      actions={<span class="badge">{psbt.state}</span>}
    >
      <p>
        Pays {sats(paid)}, fee {sats(psbt.feeSats)} ({psbt.feeRateSatPerVb} sat/vB)
      </p>
      <p class="small" data-testid="psbt-signatures">
        Signatures: {psbt.signatures.map((count, index) => `input ${index + 1}: ${count} of ${psbt.threshold}`).join(', ')}
      </p>
      <p class="small">Signed by: {psbt.signedBy.length > 0 ? psbt.signedBy.join(', ') : 'nobody yet'}</p>
      {psbt.broadcastAt !== null && (
        <p class="muted small">
          Sent {dateTime(psbt.broadcastAt)}: <code>{psbt.txid}</code>, {psbt.confirmations} confirmation
          {psbt.confirmations === 1 ? '' : 's'}
        </p>
      )}
      {psbt.lastError && <p class="error small">{psbt.lastError.message}</p>}
      {action.error && <ErrorBox error={action.error} />}
      {taken && <p class="notice small">{taken}</p>}
      {(psbt.state === 'signing' || psbt.state === 'signed') && (
        <>
          <p class="actions">
            <a href={`/api/v1${path}/file`} download={`payout-${psbt.id}.psbt`}>
              Download .psbt
            </a>
            <label class="upload">
              Upload a signed .psbt
              <input
                type="file"
                accept=".psbt,.txt,application/octet-stream"
                disabled={action.busy}
                onChange={(event) => void upload(event.currentTarget)}
              />
            </label>
          </p>
          <p class="actions">
            {psbt.state === 'signed' && (
              <button
                type="button"
                disabled={action.busy}
                onClick={() => void action.run(() => api(`${path}/broadcast`, { method: 'POST' }))}
              >
                Broadcast
              </button>
            )}
            {!discarding && (
              <button type="button" class="secondary" disabled={action.busy} onClick={() => setDiscarding(true)}>
                Discard
              </button>
            )}
          </p>
          {discarding && (
            <ReasonForm
              label="Why is it discarded? Its payouts are approved again."
              submit="Discard"
              busy={action.busy}
              onCancel={() => setDiscarding(false)}
              onSubmit={async (reason) => {
                if (await action.run(() => api(`${path}/discard`, { method: 'POST', body: { reason } }))) setDiscarding(false);
              }}
            />
          )}
        </>
      )}
    </Section>
  );
}

/** A member asks to be paid back: the amount in the space's currency, converted by the Server at a fresh rate. */
export function ReimbursementForm(props: { memberId: string }) {
  const mine = useResource<{ payouts: Payout[] }>(`/members/${encodeURIComponent(props.memberId)}/payouts`);
  const [address, setAddress] = useState('');
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [asked, setAsked] = useState<Payout | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const action = useAction(() => undefined);

  const submit = async (event: Event) => {
    event.preventDefault();
    setInvalid(null);
    let cents: number;
    try {
      cents = parseAmountToCents(amount);
    } catch {
      setInvalid('Write the amount like 25 or 25.50.');
      return;
    }
    if (cents === 0) {
      setInvalid('The amount must be more than zero.');
      return;
    }
    await action.run(async () => {
      setAsked(
        await api<Payout>('/payouts', { method: 'POST', body: { address: address.trim(), cents, reason: reason.trim() } }),
      );
      setAddress('');
      setAmount('');
      setReason('');
      mine.reload();
    });
  };

  return (
    <Section title="Ask for a reimbursement" class="reimbursement">
      <form class="stacked" onSubmit={(event) => void submit(event)}>
        <label>
          Your bitcoin address
          <input
            name="address"
            required
            autocapitalize="none"
            value={address}
            onInput={(event) => setAddress(event.currentTarget.value)}
          />
        </label>
        <label>
          Amount, in the space’s currency
          <input
            name="amount"
            required
            inputMode="decimal"
            placeholder="25.00"
            value={amount}
            onInput={(event) => setAmount(event.currentTarget.value)}
          />
        </label>
        <label>
          What for
          <input
            name="reason"
            required
            maxLength={500}
            value={reason}
            onInput={(event) => setReason(event.currentTarget.value)}
          />
        </label>
        {invalid && (
          <p class="error" role="alert">
            {invalid}
          </p>
        )}
        {action.error && <ErrorBox error={action.error} />}
        <button type="submit" disabled={action.busy}>
          Ask
        </button>
      </form>
      {asked && (
        <p class="notice" data-testid="reimbursement-asked">
          Asked for {amountText(asked)}: {asked.approvalsRequired} approvals are needed before it is paid.
        </p>
      )}
      {mine.error && <ErrorBox error={mine.error} />}
      {mine.data && mine.data.payouts.length > 0 && (
        <ul class="my-payouts" data-testid="my-payouts">
          {mine.data.payouts.map((payout) => (
            <li key={payout.id}>
              <strong>{amountText(payout)}</strong> {payout.reason}: {payout.state}
              {payout.state === 'requested' && ` (${payout.approvals.length} of ${payout.approvalsRequired} approvals)`}
              {payout.rejection && ` (${payout.rejection.reason ?? ''})`}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
