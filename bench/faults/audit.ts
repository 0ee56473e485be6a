import { latencyOf, Latency, newHistogram } from '../lib/histogram';
import type { DeviceReport, Ledger } from './device';

/** A stored message of the run's chats, as the database has it. */
export interface StoredRow {
  id: string;
  chatId: string;
  seq: number;
  senderId: string;
  clientMessageId: string | null;
  text: string | null;
  /** created_at, epoch ms. */
  at: number;
}

export interface Counts {
  /** Distinct clientMessageIds the clients created. */
  created: number;
  /** Distinct clientMessageIds put on the wire at least once. */
  sent: number;
  /** Sends answered by `message:new` with their clientMessageId on the sending device. */
  acked: number;
  /** Rows in the run's chats. */
  stored: number;
  /** Acked but no row: the one thing that must never happen. */
  lost: number;
  /** A row the sender never heard about (it kept retrying until the end). */
  storedNotAcked: number;
  /** Sent, never acked, no row: still in the client's outbox at the end. */
  notStored: number;
  /** Sends refused for good, by code (the client stops retrying these). */
  refused: Record<string, number>;
  /** Rows beyond the first with the same clientMessageId (or the same text): must be 0. */
  duplicatedRows: number;
  /** Rows whose clientMessageId no client created. */
  unknownRows: number;
  /** Acks or live frames naming a message id the database does not have. */
  phantom: number;
  /** One clientMessageId answered with two different message ids. */
  ackMismatches: number;
  /** Extra answers to one send on its device (a retry answered after the first answer came). */
  extraAcks: number;
  /** (message, device) pairs that should see the message live: every device of every member but the sending one. */
  expectedDeliveries: number;
  /** Of those, seen live. */
  delivered: number;
  /** Not seen live though the device was connected from the message's commit until 2 s later. */
  missedWhileConnected: number;
  /** Of those, the device was on another instance than the one that answered the sender (the bus carries these). */
  missedAcrossInstances: number;
  /** A few messages missed by a connected device on the sender's instance, with what their sender went through. */
  missedSamples: Array<{ messageId: string; chatId: string; devicesMissing: number; attempts: number; resentAfterReconnect: number; errors: Record<string, number>; ackInstance: number | null }>;
  /** Live frames beyond the first of one message on one device. */
  duplicateLive: number;
  /** Adjacent inversions of `seq` per chat per device, in live arrival order. */
  reordered: number;
  /** Frames beyond the first send of each message. */
  retries: number;
  /** `message:send:error` codes over all attempts. */
  sendErrors: Record<string, number>;
  /** From creation to its answer (includes time spent queued while disconnected and retries). */
  ackLatency: Latency;
  /** Messages created inside the fault window, and how many of them ended acked. */
  createdDuringFault: number;
  ackedOfDuringFault: number;
}

const CONNECTED_MARGIN_MS = 2_000;

export function audit(input: { ledger: Ledger; devices: DeviceReport[]; rows: StoredRow[]; members: Map<string, string[]>; faultWindow: [number, number] }): Counts {
  const { ledger, devices, rows, members, faultWindow } = input;
  const records = [...ledger.values()];
  const devicesOf = new Map<string, DeviceReport[]>();
  for (const d of devices) devicesOf.set(d.userId, [...(devicesOf.get(d.userId) ?? []), d]);

  const rowsByClientId = new Map<string, StoredRow[]>();
  const rowsByText = new Map<string, number>();
  const rowIds = new Set<string>();
  let unknownRows = 0;
  for (const row of rows) {
    rowIds.add(row.id);
    if (row.text !== null) rowsByText.set(row.text, (rowsByText.get(row.text) ?? 0) + 1);
    if (!row.clientMessageId || !ledger.has(row.clientMessageId)) unknownRows++;
    if (row.clientMessageId) rowsByClientId.set(row.clientMessageId, [...(rowsByClientId.get(row.clientMessageId) ?? []), row]);
  }
  let duplicatedRows = 0;
  for (const same of rowsByClientId.values()) duplicatedRows += same.length - 1;
  let sameText = 0;
  for (const n of rowsByText.values()) sameText += n - 1;
  duplicatedRows = Math.max(duplicatedRows, sameText);

  const counts: Counts = {
    created: records.length,
    sent: 0,
    acked: 0,
    stored: rows.length,
    lost: 0,
    storedNotAcked: 0,
    notStored: 0,
    refused: {},
    duplicatedRows,
    unknownRows,
    phantom: 0,
    ackMismatches: 0,
    extraAcks: 0,
    expectedDeliveries: 0,
    delivered: 0,
    missedWhileConnected: 0,
    missedAcrossInstances: 0,
    missedSamples: [],
    duplicateLive: 0,
    reordered: 0,
    retries: 0,
    sendErrors: {},
    ackLatency: latencyOf(newHistogram()),
    createdDuringFault: 0,
    ackedOfDuringFault: 0,
  };
  const ackHistogram = newHistogram();
  for (const r of records) {
    const stored = rowsByClientId.get(r.clientMessageId)?.[0];
    const inFault = r.createdAt >= faultWindow[0] && r.createdAt < faultWindow[1];
    if (inFault) counts.createdDuringFault++;
    if (r.attempts > 0) counts.sent++;
    counts.retries += Math.max(0, r.attempts - 1);
    for (const [code, n] of Object.entries(r.errors)) counts.sendErrors[code] = (counts.sendErrors[code] ?? 0) + n;
    if (r.refused) counts.refused[r.refused] = (counts.refused[r.refused] ?? 0) + 1;
    if (r.ackMismatch) counts.ackMismatches++;
    counts.extraAcks += Math.max(0, r.ackFrames - 1);
    if (r.ackMessageId) {
      counts.acked++;
      if (inFault) counts.ackedOfDuringFault++;
      ackHistogram.recordValue(Math.max(1, (r.ackedAt! - r.createdAt) * 1000));
      if (!stored) counts.lost++;
      if (!rowIds.has(r.ackMessageId)) counts.phantom++;
    } else if (stored) {
      counts.storedNotAcked++;
    } else if (r.attempts > 0 && !r.refused) {
      counts.notStored++;
    }
  }
  counts.ackLatency = latencyOf(ackHistogram);

  for (const row of rows) {
    const record = row.clientMessageId ? ledger.get(row.clientMessageId) : undefined;
    for (const userId of members.get(row.chatId) ?? []) {
      for (const device of devicesOf.get(userId) ?? []) {
        if (device.key === record?.device) continue;
        counts.expectedDeliveries++;
        if (device.live[row.id]) {
          counts.delivered++;
          continue;
        }
        const on = connectedThrough(device, row.at, row.at + CONNECTED_MARGIN_MS);
        if (on === null) continue;
        counts.missedWhileConnected++;
        if (record?.ackInstance != null && on !== record.ackInstance) {
          counts.missedAcrossInstances++;
          continue;
        }
        const sample = counts.missedSamples.find((m) => m.messageId === row.id);
        if (sample) sample.devicesMissing++;
        else if (record && counts.missedSamples.length < 10) {
          const { attempts, resentAfterReconnect, errors, ackInstance } = record;
          counts.missedSamples.push({ messageId: row.id, chatId: row.chatId, devicesMissing: 1, attempts, resentAfterReconnect, errors, ackInstance });
        }
      }
    }
  }
  for (const device of devices) {
    for (const [id, n] of Object.entries(device.live)) {
      counts.duplicateLive += n - 1;
      if (!rowIds.has(id)) counts.phantom++;
    }
    for (const seqs of Object.values(device.order)) {
      for (let i = 1; i < seqs.length; i++) if (seqs[i] < seqs[i - 1]) counts.reordered++;
    }
  }
  return counts;
}

/** The instance the device was connected to throughout [from, to], or null. */
function connectedThrough(device: DeviceReport, from: number, to: number): number | null {
  return device.online.find(([start, end]) => start <= from && end >= to)?.[2] ?? null;
}
