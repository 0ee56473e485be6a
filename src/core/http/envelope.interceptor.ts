import { CallHandler, ExecutionContext, Injectable, NestInterceptor, StreamableFile } from '@nestjs/common';
import { Observable, map } from 'rxjs';

/** Wraps every successful HTTP result as `{success:true, data}` (undefined becomes null). */
@Injectable()
export class EnvelopeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    return next.handle().pipe(
      map((data) => (data instanceof StreamableFile ? data : { success: true, data: data === undefined ? null : data })),
    );
  }
}
