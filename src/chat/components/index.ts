/**
 * React components of the chat sidebar, one module per component (or tight
 * family); small shared helpers live in `shared.tsx`.
 */
export type { IChatActions } from './actions';
export { ChatPanel } from './chatPanel';
export { MarkdownView } from './markdownView';
export { SetupPanel } from './setupPanel';
export { StepCard } from './stepCard';
export { TurnView } from './turnView';
