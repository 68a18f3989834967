import { ISignal } from '@lumino/signaling';
import * as React from 'react';

/**
 * Re-render the calling component whenever `signal` fires.
 *
 * The subscription is made in an effect, which runs after the render that
 * read the state. An emission in between (a history reply that lands while
 * the sidebar mounts, or while it switches chats) would otherwise be lost
 * and the view would stay stale, e.g. on "Loading chat…". So the effect
 * renders once more right after connecting, to pick up anything missed.
 */
export function useSignal(signal: ISignal<any, any> | null | undefined): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    if (!signal) {
      return;
    }
    const slot = () => setTick(t => t + 1);
    signal.connect(slot);
    slot();
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
}
