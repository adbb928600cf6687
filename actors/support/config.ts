/**
 * `[support]`: the remote-support modules' configuration as the agent
 * resolved it (docs/support.md, docs/configuration.md).
 */

/** A feature under access control (PROTOCOLS.md §5). */
export type SupportFeature = "FileTransfer" | "RemoteView" | "RemoteControl" | "ScreenRecording";

/** `[support]`: the remote-support modules (docs/support.md). */
export interface SupportSection {
  /** Access of each feature until a local app sets it; the stored value wins after that. */
  access: Record<SupportFeature, "Allowed" | "AfterConfirmation" | "Denied">;
  /** Target ports whose tunnels stand for each feature (`RemoteView = [5900]`). */
  ports: Record<SupportFeature, number[]>;
  /** The feature of a tunnel whose port is in no list of `ports`. */
  defaultFeature: SupportFeature;
  /** Time for a local app to answer an access request before it counts as denied. */
  confirmationTimeoutSec: number;
  /** Time for a local app to answer an instant-support connection request. */
  connectionRequestTimeoutSec: number;
  /** Time for the remote side to acknowledge a sent chat message before it failed. */
  sendTimeoutSec: number;
}
