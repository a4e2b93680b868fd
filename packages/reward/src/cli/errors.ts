export { UserError, formatError } from '../errors';
