/**
 * useSignal must not lose an emission that lands between a render and the
 * effect that subscribes: that gap left the sidebar on "Loading chat…".
 */
import { Signal } from '@lumino/signaling';
import * as React from 'react';
import { createRoot } from 'react-dom/client';
import { act } from 'react-dom/test-utils';

import { useSignal } from '../chat/useSignal';

class Store {
  value = 'loading';
  readonly changed = new Signal<Store, void>(this);
  set(value: string): void {
    this.value = value;
    this.changed.emit();
  }
}

/** Changes the store in a layout effect: after the parent rendered, before its effects. */
function ChangeDuringMount(props: { store: Store }): null {
  React.useLayoutEffect(() => {
    props.store.set('loaded');
  }, [props.store]);
  return null;
}

function View(props: { store: Store }): JSX.Element {
  useSignal(props.store.changed);
  return (
    <div>
      <span className="value">{props.store.value}</span>
      <ChangeDuringMount store={props.store} />
    </div>
  );
}

describe('useSignal', () => {
  let host: HTMLDivElement;
  beforeEach(() => {
    host = document.createElement('div');
    document.body.appendChild(host);
  });
  afterEach(() => {
    host.remove();
  });

  it('shows a change emitted before the subscription was made', () => {
    const store = new Store();
    const root = createRoot(host);
    act(() => {
      root.render(<View store={store} />);
    });
    expect(host.querySelector('.value')!.textContent).toBe('loaded');
    act(() => root.unmount());
  });

  it('re-renders on later emissions and stops after unmount', () => {
    const store = new Store();
    const root = createRoot(host);
    act(() => {
      root.render(<View store={store} />);
    });
    act(() => store.set('answered'));
    expect(host.querySelector('.value')!.textContent).toBe('answered');
    act(() => root.unmount());
    // the slot is disconnected: emitting now must not touch an unmounted tree
    expect(() => store.set('late')).not.toThrow();
  });

  it('follows a switch to another signal', () => {
    const a = new Store();
    const b = new Store();
    function Switcher(props: { store: Store }): JSX.Element {
      useSignal(props.store.changed);
      return <span className="value">{props.store.value}</span>;
    }
    const root = createRoot(host);
    act(() => root.render(<Switcher store={a} />));
    act(() => root.render(<Switcher store={b} />));
    act(() => b.set('b changed'));
    expect(host.querySelector('.value')!.textContent).toBe('b changed');
    act(() => a.set('a changed'));
    expect(host.querySelector('.value')!.textContent).toBe('b changed');
    act(() => root.unmount());
  });
});
